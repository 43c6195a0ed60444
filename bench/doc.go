// Package bench holds the function's performance measurements: in-process
// benchmarks of one warm invocation against the protocol's unavoidable
// cost (one RSA-2048 signature and one verification), benchmarks of its
// pieces, and a test that warm invocations reuse one upstream connection.
//
// The package has no code of its own to import; everything is in its test
// files, so that `make bench` (go test -bench . ./bench/...) runs it. The
// cold-start and memory measurements under the Lambda runtime emulator are
// in cmd/coldstart, with bench/helloworld as their baseline function.
package bench
