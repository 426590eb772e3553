// Where a process's cgroup v2 directory is, from /proc/<pid>/cgroup and mountinfo (src/cgroup.ts), by table.
import { describe, expect, it } from 'vitest';
import { cgroupDirFrom } from '../src/cgroup.js';

const HYBRID = [
  '25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
  '33 25 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw',
  '34 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
].join('\n');
const UNIFIED = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw';
/** a container without a cgroup namespace: the host's hierarchy mounted from the container's own cgroup */
const BOUND = '700 690 0:26 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw';

describe('cgroupDirFrom', () => {
  it.each([
    ['hybrid (v1 and v2)', '1:memory:/x\n0::/\n', HYBRID, '/sys/fs/cgroup/unified'],
    [
      'unified, a service',
      '0::/system.slice/hotpull.service\n',
      UNIFIED,
      '/sys/fs/cgroup/system.slice/hotpull.service',
    ],
    ['a mount rooted at the container’s cgroup', '0::/docker/abc/sub\n', BOUND, '/sys/fs/cgroup/sub'],
    ['a cgroup outside the mount’s root', '0::/other\n', BOUND, undefined],
    ['cgroup v1 only', '4:memory:/x\n', HYBRID, undefined],
    ['no cgroup2 mount', '0::/\n', '34 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory', undefined],
    ['a mount point with a space', '0::/a\n', '1 0 0:1 / /mnt/c\\040g rw - cgroup2 none rw', '/mnt/c g/a'],
  ])('%s', (_what, cgroup, mountinfo, expected) => {
    expect(cgroupDirFrom(cgroup, mountinfo)).toBe(expected);
  });
});
