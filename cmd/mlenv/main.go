// Command mlenv is the single binary of the mlenv ML engine and platform.
// It is deliberately thin: all commands live in package cli.
package main

import (
	"os"

	"github.com/mlenv/mlenv/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
