/**
 * Which remote addresses may send records. Every input asks this one function about each client (a TCP
 * connection, a UDP datagram, an HTTP request) before reading what it sent.
 */

/** Takes the client's IP address as Node gives it ("127.0.0.1", "::ffff:10.0.0.5", "::1"); true lets it in. */
export type Admit = (remoteAddress: string) => boolean;

/** The default: every address that can reach the port. */
export const admitAll: Admit = () => true;
