//go:build !unix

package source

// isNonblock reports false: outside Unix standard input is left as it is.
func isNonblock(int) bool { return false }
