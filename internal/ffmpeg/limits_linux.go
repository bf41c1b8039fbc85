package ffmpeg

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// apply sets l on the running process pid with prlimit(2). Go cannot set a
// child's rlimits between fork and exec (syscall.SysProcAttr has no field
// for them, and os/exec restores only RLIMIT_NOFILE), so they are set right
// after Start: the child has just exec'd and is still loading, long before
// it opens its input or decodes a frame; a limit lowered below what a
// process already holds still refuses every later allocation. No core file
// is written when a limit stops it.
func (l Limits) apply(pid int) error {
	set := func(resource int, cur, max uint64) error {
		if err := unix.Prlimit(pid, resource, &unix.Rlimit{Cur: cur, Max: max}, nil); err != nil {
			return fmt.Errorf("prlimit %d on pid %d: %w", resource, pid, err)
		}
		return nil
	}
	if l.Memory > 0 {
		if err := set(unix.RLIMIT_DATA, uint64(l.Memory), uint64(l.Memory)); err != nil {
			return err
		}
	}
	if l.CPU > 0 {
		soft := uint64(max(l.CPU.Seconds(), 1))
		if err := set(unix.RLIMIT_CPU, soft, soft+uint64(cpuGrace.Seconds())); err != nil {
			return err
		}
	}
	if l.Memory > 0 || l.CPU > 0 {
		return set(unix.RLIMIT_CORE, 0, 0)
	}
	return nil
}
