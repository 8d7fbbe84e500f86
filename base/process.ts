/**
 * Whether a process with this pid exists: signal 0 checks without sending anything. EPERM means it
 * exists but belongs to another user (alive); anything else (ESRCH) means it is gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
