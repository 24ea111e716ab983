/**
 * Whether a host name or address stays on this machine: `localhost`, 127.0.0.0/8 and ::1
 * (IPv4-mapped ::ffff:127.x.y.z too). Decided from the text alone, never by a DNS lookup: a
 * name that one resolver maps to 127.0.0.1 is a name that another may map elsewhere. The text
 * is first put in the URL standard's form, so `127.1`, `0x7f.0.0.1` or `[0:0::1]` count too.
 */
export function isLoopbackHost(host: string): boolean {
  const h = canonicalHost(host);
  return (
    h === 'localhost' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '[::1]' ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(h)
  );
}

function canonicalHost(host: string): string {
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  try {
    return new URL(`http://${bracketed}/`).hostname.replace(/\.$/, '');
  } catch {
    return host.toLowerCase();
  }
}
