import { describe, expect, it } from "vitest";
import { bytesSize, formatUlimit, humanDuration, humanSize, parseRamInBytes, parseUlimit } from "./units.ts";

describe("go-units", () => {
  it("HumanSize: decimal units, four significant digits", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(1000)).toBe("1kB");
    expect(humanSize(1_981_440)).toBe("1.981MB");
    expect(humanSize(52_428_800)).toBe("52.43MB");
    expect(humanSize(3e12)).toBe("3TB");
  });
  it("BytesSize: binary units, four significant digits", () => {
    expect(bytesSize(0)).toBe("0B");
    expect(bytesSize(1024)).toBe("1KiB");
    expect(bytesSize(1536 * 1024)).toBe("1.5MiB");
    expect(bytesSize(10 * 1024 ** 3)).toBe("10GiB");
  });
  it("HumanDuration: Docker's approximations", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1_000)).toBe("1 second");
    expect(humanDuration(59_000)).toBe("59 seconds");
    expect(humanDuration(90_000)).toBe("About a minute");
    expect(humanDuration(5 * 60_000)).toBe("5 minutes");
    expect(humanDuration(3_600_000)).toBe("About an hour");
    expect(humanDuration(30 * 3_600_000)).toBe("30 hours");
    expect(humanDuration(3 * 24 * 3_600_000)).toBe("3 days");
  });
});

describe("go-units parsers (texts as the docker 28 CLI prints them after 'invalid argument … flag: ')", () => {
  it("RAMInBytes", () => {
    expect(parseRamInBytes("128m")).toEqual({ ok: true, value: 134217728 });
    expect(parseRamInBytes("12kib")).toEqual({ ok: true, value: 12288 });
    // What hatake prune --keep-storage, build --gc-keep-storage and json-file max-size take too.
    expect([parseRamInBytes("10MB"), parseRamInBytes("2GiB"), parseRamInBytes("512")]).toEqual([{ ok: true, value: 10 * 1024 ** 2 }, { ok: true, value: 2 * 1024 ** 3 }, { ok: true, value: 512 }]);
    expect(parseRamInBytes("lots").ok).toBe(false);
    expect(parseRamInBytes("12 k")).toEqual({ ok: true, value: 12288 });
    expect(parseRamInBytes("12KB")).toEqual({ ok: true, value: 12288 });
    expect(parseRamInBytes("1.5g")).toEqual({ ok: true, value: 1610612736 });
    expect(parseRamInBytes("100")).toEqual({ ok: true, value: 100 });
    expect(parseRamInBytes("1e3")).toEqual({ ok: true, value: 1000 });
    expect(parseRamInBytes("12q")).toEqual({ ok: false, message: "invalid suffix: 'q'" });
    expect(parseRamInBytes("1kbb")).toEqual({ ok: false, message: "invalid suffix: 'kbb'" });
    expect(parseRamInBytes("1e3x")).toEqual({ ok: false, message: "invalid suffix: 'x'" });
    expect(parseRamInBytes("-5")).toEqual({ ok: false, message: "invalid size: '-5'" });
    expect(parseRamInBytes("")).toEqual({ ok: false, message: "invalid size: ''" });
    expect(parseRamInBytes("1.5.5")).toEqual({ ok: false, message: 'strconv.ParseFloat: parsing "1.5.5": invalid syntax' });
    expect(parseRamInBytes("0x10")).toEqual({ ok: false, message: 'strconv.ParseFloat: parsing "0x10": invalid syntax' });
  });

  it("ParseUlimit and Ulimit.String", () => {
    expect(parseUlimit("nofile=1024:2048")).toEqual({ ok: true, value: { name: "nofile", soft: 1024, hard: 2048 } });
    expect(parseUlimit("nproc=10")).toEqual({ ok: true, value: { name: "nproc", soft: 10, hard: 10 } });
    expect(parseUlimit("core=0:-1")).toEqual({ ok: true, value: { name: "core", soft: 0, hard: -1 } });
    expect(formatUlimit({ name: "nofile", soft: 1024, hard: 2048 })).toBe("nofile=1024:2048");
    const msg = (t: string): string | undefined => {
      const r = parseUlimit(t);
      return r.ok ? undefined : r.message;
    };
    expect(msg("foo")).toBe("invalid ulimit argument: foo");
    expect(msg("bogus=1")).toBe("invalid ulimit type: bogus");
    expect(msg("as=1")).toBe("invalid ulimit type: as");
    expect(msg("=5")).toBe("invalid ulimit type: ");
    expect(msg("nofile=x")).toBe('strconv.ParseInt: parsing "x": invalid syntax');
    expect(msg("nofile=x:y")).toBe('strconv.ParseInt: parsing "y": invalid syntax');
    expect(msg("nofile=")).toBe('strconv.ParseInt: parsing "": invalid syntax');
    expect(msg("nofile=unlimited")).toBe('strconv.ParseInt: parsing "unlimited": invalid syntax');
    expect(msg("nofile=99999999999999999999")).toBe('strconv.ParseInt: parsing "99999999999999999999": value out of range');
    expect(msg("nofile=1:2:3")).toBe("too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`");
    expect(msg("nofile=5:2")).toBe("ulimit soft limit must be less than or equal to hard limit: 5 > 2");
    expect(msg("nofile=-1:5")).toBe("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 5");
  });
});
