/**
 * The SG write-status IP option (slides 17, 26, 43).
 *
 * A ReadOne/WriteAll or ReadFirst/WriteAll service marks each write reply with its status and
 * return value in an IPv4 option, so the SG node can group replies by outcome without knowing the
 * service's protocol. The seed's `prepare_ipopt_mcast(u_short type, int retval)` fixes the
 * payload: a 16-bit status and a 32-bit signed return value.
 *
 * Option type 0x9E (158) is RFC 4727's experimental value with the copied flag set (copy=1,
 * class=0, number=30): a fragmented reply carries the status in every fragment.
 *
 *   byte 0     type   = 0x9E
 *   byte 1     length = 8 (the whole option, type and length included)
 *   bytes 2-3  status, big-endian u16: 0 success (MCAST_SUCCESS), 1 failure (MCAST_FAILURE);
 *              other values are carried and reported as they are
 *   bytes 4-7  return value, big-endian two's-complement i32
 *
 * Eight bytes keep the IPv4 header 32-bit aligned without padding.
 */

export const SG_WRITE_STATUS_TYPE = 0x9e;
export const SG_WRITE_STATUS_LEN = 8;

export const SG_WRITE_STATUS = {
  success: 0,
  failure: 1,
} as const;

export interface SgWriteStatus {
  readonly kind: 'sg-write-status';
  /** u16 */
  readonly status: number;
  /** i32 */
  readonly retval: number;
}

export function sgWriteStatus(status: number, retval: number): SgWriteStatus {
  return { kind: 'sg-write-status', status, retval };
}
