//go:build !linux

package transport

import "syscall"

// flowSupported says whether DialWebSocket's connections have the no-wait
// mode and frames of their own (see flowConn): on Linux only, where a
// sender of many streams runs; elsewhere every write goes through
// coder/websocket and waits for the network.
const flowSupported = false

// sysRead and sysWrite are never called where flowSupported is false.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno)  { return 0, syscall.EINVAL }
func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }
