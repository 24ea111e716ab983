/**
 * Whether a host name or address stays on this machine: `localhost`, 127.0.0.0/8 and ::1
 * (IPv4-mapped ::ffff:127.x.y.z too). Decided from the text alone, never by a DNS lookup: a
 * name that one resolver maps to 127.0.0.1 is a name that another may map elsewhere. The text
 * is first put in the URL standard's form, so `127.1`, `0x7f.0.0.1` or `[0:0::1]` count too;
 * text that is more than a host (`evil.example@127.0.0.1`, `127.0.0.1/x`, a port) never does.
 * The one check for every caller: a client's plain-HTTP warning, `baton serve --no-auth`'s
 * listening address and the `Host` header it accepts.
 */
export function isLoopbackHost(host: string): boolean {
  const h = canonicalHost(host);
  if (h === null) return false;
  return (
    h === 'localhost' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '[::1]' ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(h)
  );
}

/** Characters that would make the URL parser read the text as more than a host. */
const NOT_A_HOST = /[@/\\?#\s%]/;

function canonicalHost(host: string): string | null {
  if (NOT_A_HOST.test(host)) return null;
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  try {
    const url = new URL(`http://${bracketed}/`);
    return url.port === '' ? url.hostname.replace(/\.$/, '') : null;
  } catch {
    return null;
  }
}
