// Numbers as people read them in nfct's screens and messages.

/**
 * `n` rounded, its digits in groups of three ('1,234,567'): what `toLocaleString('en-US')`
 * writes, without loading the ICU data that takes ~7 MiB of a process's memory.
 */
export function grouped(n: number): string {
  const r = Math.round(n);
  if (!Number.isFinite(r) || Math.abs(r) >= 1e21) return r.toLocaleString('en-US');
  const digits = String(Math.abs(r));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return r < 0 || Object.is(r, -0) ? `-${out}` : out;
}
