import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { BoundedOutput, OutputTap, startFailure } from "./exec.ts";

describe("exec's pure parts", () => {
  it("Docker's texts for a command that cannot run (HTK-ENGINE-0504)", () => {
    const notFound = startFailure(["nosuch", "x"], 127);
    expect(notFound.id).toBe("HTK-ENGINE-0504");
    expect(notFound.http).toBe(400);
    expect(notFound.plainCause).toBe('OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown');
    expect(startFailure(["/bin/nope"], 127).plainCause).toContain('exec: "/bin/nope": stat /bin/nope: no such file or directory: unknown');
    expect(startFailure(["/etc/passwd"], 126).plainCause).toContain('exec: "/etc/passwd": permission denied: unknown');
  });

  it("keeps a health probe's first 4096 bytes, then '...' (Docker's limitedBuffer)", () => {
    const b = new BoundedOutput(8);
    b.push(Buffer.from("hello "));
    expect(b.text()).toBe("hello ");
    b.push(Buffer.from("world"));
    expect(b.text()).toBe("hello wo...");
    const exact = new BoundedOutput(5);
    exact.push(Buffer.from("12345"));
    expect(exact.text()).toBe("12345");
    exact.push(Buffer.alloc(0));
    expect(exact.text()).toBe("12345");
  });

  it("holds output until the session decides, then forwards it with backpressure", async () => {
    const source = new PassThrough();
    const tap = new OutputTap(source);
    source.write("early ");
    await new Promise((r) => setImmediate(r));
    const got: string[] = [];
    let drain: (() => void) | undefined;
    let accept = false;
    tap.forward(
      (chunk) => {
        got.push(chunk.toString());
        return accept;
      },
      (cb) => {
        drain = cb;
      },
    );
    expect(got).toEqual(["early "]);
    // The sink was full: the source waits for its drain.
    expect(source.isPaused()).toBe(true);
    accept = true;
    drain?.();
    source.end("late");
    await tap.ended;
    expect(got.join("")).toBe("early late");
  });

  it("discards what it holds and whatever follows", async () => {
    const source = new PassThrough();
    const tap = new OutputTap(source);
    source.write("x".repeat(100));
    tap.discard();
    source.end("more");
    await tap.ended;
    expect(source.readableEnded).toBe(true);
  });
});
