import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { ContainerIO, DetachKeyScanner, parseDetachKeys, type OutputSink } from "./io.ts";

describe("container streams", () => {
  it("fans output out to every sink, pauses the container's pipes while a sink is full, and ends the sinks", async () => {
    const io = new ContainerIO();
    const got: string[] = [];
    let drain: (() => void) | undefined;
    let full = true;
    const slow: OutputSink = {
      write: (s, c) => {
        got.push(`slow${s}:${c.toString()}`);
        const ok = !full;
        full = false;
        return ok;
      },
      onDrain: (cb) => (drain = cb),
      end: () => got.push("slow:end"),
    };
    const fast: OutputSink = { write: (s, c) => (got.push(`fast${s}:${c.toString()}`), true), onDrain: () => undefined, end: () => got.push("fast:end") };
    io.addSink(slow);
    io.addSink(fast);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const ended = io.connect({ stdout, stderr, stdin: null });
    stdout.write("a");
    await new Promise((r) => setImmediate(r));
    expect(stdout.isPaused()).toBe(true);
    stderr.write("b");
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(["slow1:a", "fast1:a"]);
    drain?.();
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(["slow1:a", "fast1:a", "slow2:b", "fast2:b"]);
    stdout.end();
    stderr.end();
    await ended;
    io.finish();
    expect(got.slice(-2)).toEqual(["slow:end", "fast:end"]);
  });

  it("hands stdin to a client that attached before the start, and closes it once (StdinOnce)", async () => {
    const io = new ContainerIO();
    const received: string[] = [];
    io.whenStdin((stdin) => stdin.write("early"));
    const stdin = new PassThrough();
    stdin.on("data", (c: Buffer) => received.push(c.toString()));
    const done = new Promise((r) => stdin.on("finish", r));
    void io.connect({ stdout: new PassThrough(), stderr: new PassThrough(), stdin });
    io.closeStdin();
    io.closeStdin();
    await done;
    expect(received).toEqual(["early"]);
  });
});

describe("detach keys", () => {
  it("parses Docker's key list", () => {
    expect(parseDetachKeys("ctrl-p,ctrl-q")).toEqual([16, 17]);
    expect(parseDetachKeys("ctrl-a,x")).toEqual([1, 120]);
    expect(() => parseDetachKeys("ctrl-1")).toThrow(/Unknown character/);
  });

  it("passes input through until the sequence, across chunks", () => {
    const s = new DetachKeyScanner([16, 17]);
    expect(s.scan(Buffer.from([65, 16]))).toEqual({ forward: Buffer.from([65]), detach: false });
    expect(s.scan(Buffer.from([66]))).toEqual({ forward: Buffer.from([16, 66]), detach: false });
    expect(s.scan(Buffer.from([16, 17, 67]))).toEqual({ forward: Buffer.from([]), detach: true });
  });
});
