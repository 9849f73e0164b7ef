// Package e2e holds the end-to-end tests of the qnnkit binaries (it has no
// API): the bad-input corpus of testdata/badinput (every case must fail
// with a non-zero exit, a message naming the problem and no output left
// behind), SIGKILL during a write (the previous output must survive), and
// reproducibility (two identical pipeline runs give byte-identical outputs
// and manifests). TestMain builds the binaries once into a temporary
// directory.
package e2e
