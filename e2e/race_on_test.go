//go:build race

package e2e

// raceBuild: the hotline binary the tests start is built with -race too.
const raceBuild = true
