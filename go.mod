module github.com/vachana-pipe/vachana-pipe

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/go-audio/audio v1.0.0
	github.com/go-audio/wav v1.1.0
	github.com/zaf/resample v1.5.0
	golang.org/x/sync v0.24.0
	golang.org/x/sys v0.49.0
)

require github.com/go-audio/riff v1.0.0 // indirect
