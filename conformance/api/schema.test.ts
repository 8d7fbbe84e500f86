import { describe, expect, it } from "vitest";
import { SchemaValidator, toJsonSchema } from "./schema.ts";
import { loadSpec } from "./spec.ts";

const definitions = {
  Node: {
    type: "object",
    required: ["Name"],
    properties: {
      Name: { type: "string", example: "x" },
      Children: { type: "array", items: { $ref: "#/definitions/Node" } },
      Parent: { $ref: "#/definitions/Node", "x-nullable": true },
      Labels: { type: "object", additionalProperties: { type: "string" } },
      Size: { type: "integer", format: "uint32" },
      Always: { type: "string", "x-omitempty": false },
      Maybe: { type: "string", "x-nullable": true, enum: ["a", "b"] },
    },
  },
};

describe("Swagger 2.0 schemas as JSON Schema", () => {
  const v = new SchemaValidator(definitions);
  const node = { $ref: "#/definitions/Node" };

  it("enforces required fields and types, allows unknown fields, follows recursive $refs", () => {
    expect(v.check(node, { Name: "a", Always: "", Extra: 1, Children: [{ Name: "b", Always: "" }] })).toEqual([]);
    expect(v.check(node, { Always: "" }).join()).toContain("must have required property 'Name'");
    expect(v.check(node, { Name: 1, Always: "" }).join()).toContain("/Name must be string");
    expect(v.check(node, { Name: "a", Always: "", Children: [{ Always: "" }] }).join()).toContain("/Children/0 must have required property 'Name'");
  });

  it("admits null only where x-nullable says so", () => {
    expect(v.check(node, { Name: "a", Always: "", Parent: null, Maybe: null })).toEqual([]);
    expect(v.check(node, { Name: "a", Always: "", Children: null }).join()).toContain("/Children must be array");
  });

  it("makes x-omitempty: false properties required, checks additionalProperties and integer formats", () => {
    expect(v.check(node, { Name: "a" }).join()).toContain("must have required property 'Always'");
    expect(v.check(node, { Name: "a", Always: "", Labels: { k: 1 } }).join()).toContain("/Labels/k must be string");
    expect(v.check(node, { Name: "a", Always: "", Size: -1 }).join()).toContain('/Size must match format "uint32"');
    expect(v.check(node, { Name: "a", Always: "", Maybe: "c" }).join()).toContain("/Maybe must be equal to one of the allowed values");
  });

  it("drops documentation keys", () => {
    expect(toJsonSchema({ type: "string", example: "x", description: "d", "x-go-name": "G", readOnly: true })).toEqual({ type: "string" });
  });

  it("compiles every response schema of the v1.45 spec", () => {
    const spec = loadSpec();
    const all = new SchemaValidator(spec.definitions);
    let n = 0;
    for (const op of spec.operations) {
      for (const r of Object.values(op.responses)) {
        if (r.schema === undefined) continue;
        all.compile(r.schema);
        n++;
      }
    }
    expect(spec.operations).toHaveLength(107);
    expect(n).toBeGreaterThan(250);
    expect(all.check({ $ref: "#/definitions/ErrorResponse" }, { message: "x", diagnostic: {} })).toEqual([]);
    expect(all.check({ $ref: "#/definitions/ErrorResponse" }, { msg: "x" })).not.toEqual([]);
  });
});
