package ffmpeg

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Limits bound what one ffprobe or ffmpeg child may use, so no file, however
// made, can take the machine: a child past a limit fails and the video fails
// with the limit as its reason.
type Limits struct {
	// Memory bounds the child's private writable memory (RLIMIT_DATA: heap
	// and anonymous mappings, what can become resident). Not RLIMIT_AS:
	// glibc reserves 64 MiB of address space per malloc arena and thread,
	// so address space grows with the machine's cores and says little
	// about memory in use. 0: no limit.
	Memory int64
	// CPU bounds the child's CPU time (RLIMIT_CPU; the kernel sends
	// SIGXCPU at the limit). 0: no limit.
	CPU time.Duration
}

// DefaultLimits are the limits Find sets: room for a 1080p re-encode (about
// 0.4 GiB resident on 2 cores, below 1 GiB of private memory) many times
// over, and for an 8K keyframe decode; far below what a decompression bomb
// asks for (a 16000×16000 PNG frame is 1 GiB decoded, per frame in flight).
var DefaultLimits = Limits{Memory: defaultMemory(runtime.NumCPU()), CPU: 10 * time.Minute}

// defaultMemory is 3 GiB, or 1 GiB and 128 MiB a core on machines with more
// than 16 cores: ffmpeg runs a codec thread or more per core, each with its
// stack and its frames.
func defaultMemory(cores int) int64 {
	return max(3<<30, 1<<30+int64(cores)*128<<20)
}

// LambdaLimits are the limits for a child inside a Lambda function of
// memoryMB: the function's memory is the hard bound there (past it the
// sandbox is stopped and the invocation fails as Runtime.OutOfMemory, a
// retry that fails the same way), so the child is held a little below it
// and fails first, with the limit as its reason. The CPU time stays within
// the function's 15-minute timeout.
func LambdaLimits(memoryMB int) Limits {
	l := DefaultLimits
	if memoryMB > 0 {
		l.Memory = max(int64(memoryMB-192), 128) << 20
	}
	return l
}

// cpuGrace is how far the hard CPU limit (SIGKILL) lies past the soft one
// (SIGXCPU), so the tool is normally stopped by the signal that names why.
const cpuGrace = 5 * time.Second

// memoryMarkers are how libav and its codecs report a failed allocation.
var memoryMarkers = []string{"cannot allocate memory", "malloc of size", "out of memory", "failed to allocate", "memory allocation failed", "get_buffer() failed"}

// limitError explains a failure of a child that ran under l, when a limit
// is what stopped it; nil otherwise. The CPU limit is read from the child's
// own accounting, not from how it ended: ffmpeg catches SIGXCPU and exits
// with status 255.
func (l Limits) limitError(bin, msg string, err error, st *os.ProcessState) error {
	if l.CPU > 0 && st != nil && st.UserTime()+st.SystemTime() >= l.CPU.Truncate(time.Second) {
		return scenedex.Wrap(scenedex.CodeTooLarge, err, "%s used more than its %s of CPU time on this video; it is too demanding to process (a smaller frame size or a common codec such as H.264 helps)",
			bin, l.CPU)
	}
	if l.Memory > 0 && outOfMemory(msg) {
		return scenedex.Wrap(scenedex.CodeTooLarge, err, "%s needed more than its %s of memory for this video (%s); it is too large to process: a smaller frame size helps",
			bin, bytesText(l.Memory), msg)
	}
	return nil
}

// outOfMemory reports whether a tool's message tells of a failed
// allocation: a failed malloc, or a codec thread that could not get its
// stack (EAGAIN from pthread_create).
func outOfMemory(msg string) bool {
	lower := strings.ToLower(msg)
	for _, m := range memoryMarkers {
		if strings.Contains(lower, m) {
			return true
		}
	}
	return strings.Contains(lower, "resource temporarily unavailable") &&
		(strings.Contains(lower, "decoder") || strings.Contains(lower, "encoder") || strings.Contains(lower, "thread"))
}

func bytesText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
