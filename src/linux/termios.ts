/**
 * The user's terminal in raw mode, as Docker's client sets it (cfmakeraw): Node's
 * setRawMode keeps output processing (ONLCR), so a container's "\r\n" would reach the screen
 * as "\r\r\n". Only interactive sessions load this (and koffi with it).
 */
import { check, fn } from "./ffi.js";

const TCSANOW = 0;
/** Larger than glibc's struct termios (60 bytes on x86_64 and aarch64). */
const TERMIOS_SIZE = 128;

export interface SavedTerminal {
  fd: number;
  termios: Buffer;
}

/** Puts the terminal on `fd` in raw mode; returns what restoreTerminal needs to undo it. */
export function makeRaw(fd: number): SavedTerminal {
  const saved = Buffer.alloc(TERMIOS_SIZE);
  check(fn("int tcgetattr(int fd, _Out_ void *termios)")(fd, saved) as number, "tcgetattr");
  const raw = Buffer.from(saved);
  fn("void cfmakeraw(_Inout_ void *termios)")(raw);
  check(fn("int tcsetattr(int fd, int action, const void *termios)")(fd, TCSANOW, raw) as number, "tcsetattr");
  return { fd, termios: saved };
}

export function restoreTerminal(t: SavedTerminal): void {
  fn("int tcsetattr(int fd, int action, const void *termios)")(t.fd, TCSANOW, t.termios);
}
