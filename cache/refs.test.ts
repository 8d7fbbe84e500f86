import { describe, expect, it } from "vitest";
import { sha256Of } from "../base/oci/digest.ts";
import { RefCounter, refKeyString, type LeaseInfo, type LeasePersistence } from "./refs.ts";

const blob = { kind: "blob", digest: sha256Of("x") } as const;
const snap = { kind: "snapshot", id: "snap-1" } as const;

describe("RefCounter", () => {
  it("counts leases per ref and releases each exactly once", () => {
    const refs = new RefCounter();
    const a = refs.acquire(blob, { owner: "build 1" });
    const b = refs.acquire(blob, { owner: "build 2" });
    refs.acquire(snap, { owner: "build 1" }).release();
    expect(refs.count(blob)).toBe(2);
    expect(refs.isReferenced(snap)).toBe(false);
    expect(a.release()).toBe(true);
    expect(a.release()).toBe(false);
    expect(a.released).toBe(true);
    expect(refs.count(blob)).toBe(1);
    expect(refs.blobLeaseCount(blob.digest)).toBe(1);
    b.release();
    expect(refs.isReferenced(blob)).toBe(false);
    expect(refs.liveLeases()).toEqual([]);
  });

  it("releases at the end of a scope with Symbol.dispose", () => {
    const refs = new RefCounter();
    {
      const lease = refs.acquire(snap, { owner: "scope" });
      try {
        expect(refs.count(snap)).toBe(1);
      } finally {
        lease[Symbol.dispose]();
      }
    }
    expect(refs.count(snap)).toBe(0);
  });

  it("reports leaked leases with where they were acquired", () => {
    const refs = new RefCounter({ captureStacks: true });
    refs.acquire(blob, { owner: "leaky step" });
    const leaks = refs.liveLeases();
    expect(leaks).toHaveLength(1);
    expect(leaks[0]?.owner).toBe("leaky step");
    expect(leaks[0]?.stack).toContain("refs.test.ts");
    expect(refs.liveLeases({ owner: "someone else" })).toEqual([]);
  });

  it("persists durable leases only, and restores them after a restart", () => {
    const table = new Map<string, LeaseInfo>();
    const persistence: LeasePersistence = {
      load: () => table.values(),
      added: (l) => table.set(l.id, l),
      removed: (id) => table.delete(id),
    };
    const before = new RefCounter({ persistence });
    const image = before.acquire(blob, { owner: "image alpine", durable: true });
    before.acquire(snap, { owner: "running build" });
    expect([...table.values()].map((l) => l.owner)).toEqual(["image alpine"]);

    const after = new RefCounter({ persistence });
    expect(after.count(blob)).toBe(1);
    expect(after.count(snap)).toBe(0);
    expect(after.lease(image.id)?.release()).toBe(true);
    expect(table.size).toBe(0);
    expect(after.liveLeases()).toEqual([]);
  });

  it("keeps blob and snapshot keys apart", () => {
    expect(refKeyString(blob)).not.toBe(refKeyString({ kind: "snapshot", id: blob.digest }));
  });
});
