// A child process for crash.test.ts: writes container lifecycles to the state database in a loop and
// reports each committed iteration on stdout, until it is killed.
import { openStateStore } from "./store.ts";
import { spec } from "./test-support.ts";

const [dataRoot = "", label = "w", limitText = "1000000"] = process.argv.slice(2);
const store = openStateStore(dataRoot, { integrity: "none" });
const limit = Number.parseInt(limitText, 10);
for (let i = 0; i < limit; i++) {
  const c = store.containers.create(spec({ name: `${label}-${i}`, config: { Image: "busybox", Labels: { writer: label } } }));
  const running = store.containers.start(c, { pid: 1000 + i });
  store.containers.exit(running, { exitCode: i % 256 });
  process.stdout.write(`${i + 1}\n`);
}
store.close();
