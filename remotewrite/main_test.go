package remotewrite

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(drainSinkEnv) != "" {
		os.Exit(serveDrainSink())
	}
	goleak.VerifyTestMain(m)
}
