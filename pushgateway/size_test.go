package pushgateway

import (
	"testing"
	"unsafe"
)

// TestCacheEntrySize keeps the cache's one object per metric message in the
// 48-byte size class: at a million series, every 16 bytes more are 16 MB.
func TestCacheEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(cacheEntry{}); n > 48 {
		t.Errorf("cacheEntry is %d bytes, want at most 48", n)
	}
}
