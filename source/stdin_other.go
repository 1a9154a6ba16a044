//go:build !unix

package source

import "os"

// stdin returns standard input as it is: outside Unix a blocked Read on it
// cannot be interrupted.
func stdin() (*os.File, func(), error) { return os.Stdin, nil, nil }
