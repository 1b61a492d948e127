/**
 * `created_human`: what Python's `datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]` gives.
 * fromtimestamp first rounds the timestamp to whole microseconds, half to even (CPython's
 * _PyTime_ObjectToTimeval with _PyTime_ROUND_HALF_EVEN), so 1695651604.501 ends in .501 where
 * `new Date(1695651604.501 * 1000)` would give .500. The date-and-second part is cached: it changes once a second.
 */

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

export type HumanTime = (created: number) => string;

/** "YYYY-MM-DD HH:MM:SS." of a whole second, in local time (the process's TZ) or UTC. */
export function secondPrefix(seconds: number, utc: boolean): string {
  const d = new Date(seconds * 1000);
  const [y, mo, day, h, mi, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  return `${String(y).padStart(4, '0')}-${pad2(mo)}-${pad2(day)} ${pad2(h)}:${pad2(mi)}:${pad2(s)}.`;
}

/** A formatter for local time (the process's TZ) or UTC. */
export function makeHumanTime(utc: boolean): HumanTime {
  let cachedSecond = NaN;
  let cachedPrefix = '';
  return (created: number): string => {
    let seconds = Math.trunc(created);
    let micros = roundHalfEven((created - seconds) * 1e6);
    if (micros >= 1e6) {
      micros -= 1e6;
      seconds += 1;
    } else if (micros < 0) {
      micros += 1e6;
      seconds -= 1;
    }
    if (seconds !== cachedSecond) {
      cachedPrefix = secondPrefix(seconds, utc);
      cachedSecond = seconds;
    }
    const millis = Math.floor(micros / 1000);
    return cachedPrefix + (millis < 10 ? '00' : millis < 100 ? '0' : '') + millis;
  };
}
