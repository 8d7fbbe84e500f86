import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCatalogue, needsRegistry, splitWords, type FlowStep } from "./catalogue.ts";
import { forComparison, normalise } from "./normalise.ts";
import { checkStep, differences, runFlowsSuite } from "./run-flows.ts";

const ctx = { host: "unix:///tmp/x/docker.sock", configDir: "/tmp/htk-flow-abc" };

describe("the flow output normaliser", () => {
  it("replaces the run context, digests, IDs, times and sizes", () => {
    const id = "a".repeat(20) + "0123456789abcdef".repeat(2) + "b".repeat(12);
    expect(id).toHaveLength(64);
    const text = [
      `Host unix:///tmp/x/docker.sock config /tmp/htk-flow-abc/config.json   `,
      `sha256:${id} ${id} 3f4e5d6c7b8a`,
      "2024-05-01T10:00:00.123456789Z 2024-05-01 10:00:00 +0000 UTC Fri May 30 12:07:14 2025",
      "Created About a minute ago, 3 seconds ago; Up 2 hours",
      "4.2MB 512 B 1.5 GiB",
      "",
      "",
    ].join("\n");
    expect(normalise(text, ctx)).toBe(
      [
        "Host <DOCKER_HOST> config <DOCKER_CONFIG>/config.json",
        "sha256:<DIGEST> <ID> <SHORT_ID>",
        "<TIME> <TIME> <TIME>",
        "Created <AGO>, <AGO>; Up <DURATION>",
        "<SIZE> <SIZE> <SIZE>",
      ].join("\n"),
    );
  });

  it("keeps a diagnostic ID but not its next step; comparison drops both and line-final full stops", () => {
    const ours = normalise("Error response from daemon: This node is not part of a swarm. [HTK-API-0006] Nothing to leave.\nnext line", ctx);
    expect(ours).toBe("Error response from daemon: This node is not part of a swarm. [HTK-API-0006]\nnext line");
    expect(forComparison(ours)).toBe(forComparison("Error response from daemon: This node is not part of a swarm\nnext line"));
  });

  it("replaces the registries' addresses and the run token before anything else", () => {
    const replace = [["127.0.0.1:5001", "<AUTH_REGISTRY>"], ["127.0.0.1:5000", "<REGISTRY>"], ["run0a1b2c3d", "<RUN>"]] as const;
    expect(normalise("pushed 127.0.0.1:5000/flows-run0a1b2c3d/busybox to 127.0.0.1:5001", { ...ctx, replace })).toBe("pushed <REGISTRY>/flows-<RUN>/busybox to <AUTH_REGISTRY>");
  });

  it("leaves words that merely look like hex alone", () => {
    expect(normalise("deadbeefcafe facade 1.45 e6534b4", ctx)).toBe("deadbeefcafe facade 1.45 e6534b4");
  });
});

describe("the flow catalogue", () => {
  it("loads every group with unique, runnable flows", () => {
    const flows = loadCatalogue();
    expect(flows.length).toBeGreaterThanOrEqual(10);
    expect(new Set(flows.map((f) => `${f.group}/${f.id}`)).size).toBe(flows.length);
    expect(flows.map((f) => f.group)).toEqual(expect.arrayContaining(["system", "out-of-scope", "context", "registry"]));
    expect(flows.filter(needsRegistry).map((f) => f.id)).toEqual(expect.arrayContaining(["pull", "tag-push", "login-logout", "run-tty", "build-plugin", "build-errors"]));
  });

  it("fails a flow that needs a registry when the runner has none, without running it", async () => {
    const flows = loadCatalogue().filter((f) => f.group === "registry" && f.id === "pull");
    const r = await runFlowsSuite({ host: "unix:///nonexistent/docker.sock", flows });
    expect(r.failures).toEqual(["registry/pull: the flow uses a registry and the runner was given none"]);
  });

  it("splits command lines as a shell would, without running one", () => {
    expect(splitWords(`docker version --format '{{.Server.Os}} x' "a \\"b\\"" c\\ d`)).toEqual(["docker", "version", "--format", "{{.Server.Os}} x", 'a "b"', "c d"]);
    expect(() => splitWords("docker 'open")).toThrow(/unterminated/);
  });

  it("rejects malformed entries with the file and flow named", () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-catalogue-"));
    try {
      writeFileSync(join(dir, "bad.yaml"), "flows:\n  - id: x\n    steps:\n      - run: ls -l\n");
      expect(() => loadCatalogue(dir)).toThrow('bad.yaml: flow "x" step 1: a step runs the docker CLI');
      writeFileSync(join(dir, "bad.yaml"), "flows:\n  - id: x\n    steps:\n      - run: docker ps\n        stout: x\n");
      expect(() => loadCatalogue(dir)).toThrow('unknown key "stout"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("step checks and differential comparison", () => {
  const step: FlowStep = { run: "docker ps", argv: ["ps"], env: {}, exit: 1, stderr: "Error [HTK-API-0001]", stdoutMatch: ["^$"], stderrMatch: ["^Error"], compare: "output" };

  it("reports each unmet expectation", () => {
    expect(checkStep(step, { exit: 1, stdout: "", stderr: "Error [HTK-API-0001]" })).toEqual([]);
    const problems = checkStep(step, { exit: 0, stdout: "x", stderr: "other" });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^exit code 0, expected 1/);
  });

  it("compares per the step's mode", () => {
    const a = { exit: 1, stdout: "", stderr: "Error response from daemon: gone. [HTK-API-0001]" };
    expect(differences(step, a, { exit: 1, stdout: "", stderr: "Error response from daemon: gone" })).toEqual([]);
    expect(differences(step, a, { exit: 1, stdout: "", stderr: "Error response from daemon: elsewhere" })[0]).toMatch(/^stderr /);
    expect(differences({ ...step, compare: "exit" }, a, { exit: 2, stdout: "x", stderr: "" })).toEqual(["exit code 1, reference 2"]);
    expect(differences({ ...step, compare: "none" }, a, { exit: 2, stdout: "x", stderr: "" })).toEqual([]);
  });
});
