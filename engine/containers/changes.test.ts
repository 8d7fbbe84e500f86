import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDataRoot } from "../state/test-support.ts";
import { overlayChanges, treeChanges } from "./changes.ts";

describe("docker diff", () => {
  let base = "";
  const signal = new AbortController().signal;
  beforeEach(() => {
    base = tempDataRoot("changes");
    // The image: /bin/ls, /bin/sh, /etc/passwd, /tmp, /var/log/old, /dev.
    for (const d of ["lower/bin", "lower/etc", "lower/tmp", "lower/var/log", "lower/dev"]) mkdirSync(`${base}/${d}`, { recursive: true });
    for (const f of ["bin/ls", "bin/sh", "etc/passwd", "var/log/old"]) writeFileSync(`${base}/lower/${f}`, f);
    // A symlink: compared as a link (lstat) in copy mode, never through its target.
    symlinkSync("ls", `${base}/lower/bin/link`);
    for (const d of ["lower/bin", "lower/etc", "lower/tmp", "lower/var", "lower/var/log", "lower/dev", "lower"]) utimesSync(`${base}/${d}`, 1_600_000_000, 1_600_000_000);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("an overlay upper directory: whiteouts are deletions, new entries additions, parents modified once; init-layer files left out", async () => {
    const up = `${base}/upper`;
    for (const d of ["bin", "etc", "tmp/new", "var/log"]) mkdirSync(`${up}/${d}`, { recursive: true });
    execFileSync("mknod", [`${up}/bin/ls`, "c", "0", "0"]);
    writeFileSync(`${up}/bin/sh`, "changed");
    writeFileSync(`${up}/tmp/new/file`, "x");
    // The runtime's mount points (Docker's init layer) and the /etc they made the runtime copy up.
    writeFileSync(`${up}/etc/hosts`, "");
    writeFileSync(`${up}/etc/resolv.conf`, "");
    // A copied-up directory whose metadata did not change.
    writeFileSync(`${up}/var/log/old`, "rewritten");
    utimesSync(`${up}/var/log`, 1_600_000_000, 1_600_000_000);
    utimesSync(`${up}/var`, 1_600_000_000, 1_600_000_000);
    expect(await overlayChanges(up, `${base}/lower`, signal)).toEqual([
      { Path: "/bin", Kind: 0 },
      { Path: "/bin/ls", Kind: 2 },
      { Path: "/bin/sh", Kind: 0 },
      { Path: "/tmp", Kind: 0 },
      { Path: "/tmp/new", Kind: 1 },
      { Path: "/tmp/new/file", Kind: 1 },
      { Path: "/var/log/old", Kind: 0 },
    ]);
  });

  it("two full trees (the snapshotter's copy mode): additions, changes and deletions", async () => {
    execFileSync("cp", ["-a", `${base}/lower`, `${base}/tree`]);
    rmSync(`${base}/tree/bin/ls`);
    writeFileSync(`${base}/tree/bin/sh`, "a longer content");
    writeFileSync(`${base}/tree/etc/hostname`, "");
    mkdirSync(`${base}/tree/opt`);
    const changes = await treeChanges(`${base}/tree`, `${base}/lower`, signal);
    expect(changes).toEqual([
      { Path: "/bin", Kind: 0 },
      { Path: "/bin/sh", Kind: 0 },
      { Path: "/bin/ls", Kind: 2 },
      { Path: "/opt", Kind: 1 },
    ]);
  });
});
