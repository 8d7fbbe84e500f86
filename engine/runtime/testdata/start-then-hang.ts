import { CrunRuntime } from "../crun.ts";
import { buildSpec } from "../spec.ts";

// An engine stand-in for the restart tests: starts one container, says so, then waits to be killed -9.
const [dataRoot, cgroupParent, id, rootfs, ...args] = process.argv.slice(2);
if (dataRoot === undefined || cgroupParent === undefined || id === undefined || rootfs === undefined) throw new Error("usage: DATA_ROOT CGROUP_PARENT ID ROOTFS ARGS…");
const runtime = new CrunRuntime({ dataRoot, cgroupParent });
const c = await runtime.start({ id, spec: buildSpec({ rootfs, args }) });
c.stdout.on("data", (b: Buffer) => process.stdout.write(`container: ${b.toString()}`));
process.stdout.write(`started ${c.pid}\n`);
setInterval(() => undefined, 1 << 30);
