# The init script of the namespaces mode (autograder/isolation/namespaces.py): PID 1 of the new PID namespace, root
# in the new mount namespace. Its text is passed to `sh -c` (the student's process never reads this file).
# Arguments: host sandbox, new-root mount point, "1" to become nobody, the weights folder (copied, readable by
# nobody whatever its modes; "-" for none), the folders to bind read-only, "--", then the command. It runs the
# command as its child (not exec) so the student process is not PID 1, whose signals are special; when it ends,
# PID 1 ends and the kernel kills whatever else is left in the namespace.
set -eu
STUDENT_PATH="$PATH"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SB="$1"; NR="$2"; DROP="$3"; WEIGHTS="$4"; shift 4
BINDS=""
while [ "$1" != "--" ]; do BINDS="$BINDS $1"; shift; done
shift
mount --make-rprivate /
mount -t tmpfs -o mode=755,size=16m cvroot "$NR"
bind_ro() { mkdir -p "$NR$1"; mount --rbind "$1" "$NR$1"; mount -o remount,bind,ro "$NR$1" 2>/dev/null || true; }
for d in /usr /etc; do bind_ro "$d"; done
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then ln -s "$(readlink "$d")" "$NR$d"; elif [ -d "$d" ]; then bind_ro "$d"; fi
done
mkdir -p "$NR/tmp" "$NR/proc" "$NR/dev"
mount -t tmpfs -o mode=1777,size=64m cvtmp "$NR/tmp"
for p in $BINDS; do bind_ro "$p"; done
if [ "$WEIGHTS" != "-" ]; then
  mkdir -p "$NR$WEIGHTS"
  mount -t tmpfs -o mode=755,size=256m cvweights "$NR$WEIGHTS"
  cp -a "$WEIGHTS/." "$NR$WEIGHTS/"
  chmod -R a+rX "$NR$WEIGHTS"
  mount -o remount,ro "$NR$WEIGHTS"
fi
mkdir -p "$NR$SB"
mount -t tmpfs -o mode=755,size=512m cvsandbox "$NR$SB"
cp -a "$SB/." "$NR$SB/"
if [ "$DROP" = 1 ]; then chown -R 65534:65534 "$NR$SB"; fi
mount -t proc -o nosuid,nodev,noexec proc "$NR/proc"
for n in null zero urandom random; do touch "$NR/dev/$n"; mount --bind "/dev/$n" "$NR/dev/$n"; done
mkdir "$NR/.oldroot"
cd "$NR"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
cd "$SB"
PATH="$STUDENT_PATH"
if [ "$DROP" = 1 ]; then
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
else
  setpriv --no-new-privs -- "$@"
fi
exit $?
