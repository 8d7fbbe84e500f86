import { describe, expect, it } from "vitest";
import { MiniHeaders } from "./mini-headers.ts";

describe("the plugin's Headers", () => {
  it("behaves as WHATWG Headers for what Connect and Node's http use", () => {
    const ops = (H: new (init?: never) => Headers | MiniHeaders) => {
      const h = new H({ "Content-Type": "application/proto", "X-A": "1" } as never);
      h.append("x-a", "2");
      h.set("Connect-Protocol-Version", "1");
      h.delete("content-type");
      const copy = new H(h as never);
      const seen: string[] = [];
      copy.forEach((v, k) => seen.push(`${k}=${v}`));
      return { seen, a: copy.get("X-A"), has: copy.has("connect-protocol-version"), none: copy.get("nope"), pairs: [...new H([["b", "1"], ["a", "2"]] as never)] };
    };
    expect(ops(MiniHeaders)).toEqual(ops(Headers));
  });
});
