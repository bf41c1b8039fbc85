//go:build !linux

package ffmpeg

// apply is a no-op off Linux: the limits are set with prlimit(2), which
// only Linux has. scenedex runs its tools on Linux (Lambda, containers);
// elsewhere they run unbounded.
func (l Limits) apply(pid int) error { return nil }
