/** Sizes as Docker prints them (src/cli/units.ts): go-units' decimal and binary sizes. */
import { describe, expect, it } from "vitest";
import { bytesSize, humanSize, humanSizeWithPrecision } from "../../src/cli/units.js";

describe("sizes", () => {
  it("HumanSize: decimal, four significant digits", () => {
    expect([humanSize(0), humanSize(36), humanSize(1234), humanSize(4_260_000), humanSize(999_950)]).toEqual(["0B", "36B", "1.234kB", "4.26MB", "1000kB"]);
  });

  it("HumanSizeWithPrecision(…, 3), images' SIZE: Go's %g, exponent included", () => {
    expect([humanSizeWithPrecision(4_264_000, 3), humanSizeWithPrecision(812_000, 3), humanSizeWithPrecision(999, 3)]).toEqual(["4.26MB", "812kB", "999B"]);
    expect(humanSizeWithPrecision(999_600, 3)).toBe("1e+03kB");
  });

  it("BytesSize: binary, four significant digits", () => {
    expect([bytesSize(0), bytesSize(1536), bytesSize(25_200_000_000)]).toEqual(["0B", "1.5KiB", "23.47GiB"]);
  });
});
