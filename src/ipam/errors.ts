// Typed IPAM errors. Every message names the reason in words a user can act
// on; every bad-input error is raised before anything is written.

export class IpamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request itself is malformed (bad address text, negative count, ...). */
export class InvalidRequestError extends IpamError {}

/** No IP pool of the family exists or is enabled. */
export class NoPoolsError extends IpamError {
  constructor(readonly family: 4 | 6) {
    super(`no enabled IPv${family} pool is configured`);
  }
}

/** Enabled pools exist, but none selects the node (nodeSelector / allowedUses / assignmentMode). */
export class NoMatchingPoolError extends IpamError {
  constructor(
    readonly family: 4 | 6,
    readonly node: string,
    detail: string,
  ) {
    super(`no IPv${family} pool can be used on node "${node}": ${detail}`);
  }
}

/** A pool named in the request does not exist, is disabled, or is of the wrong family. */
export class UnknownPoolError extends IpamError {}

/** The node has no Node resource; its labels (for nodeSelector) are unknown. */
export class UnknownNodeError extends IpamError {
  constructor(readonly node: string) {
    super(
      `node "${node}" is not registered (no Node resource); register it before assigning addresses`,
    );
  }
}

/** Every usable pool is full for this request. */
export class PoolExhaustedError extends IpamError {
  constructor(
    readonly family: 4 | 6,
    readonly requested: number,
    readonly pools: string[],
    reason: string,
  ) {
    super(
      `IPv${family} pool${pools.length === 1 ? '' : 's'} ${pools.join(', ')} exhausted: ` +
        `could not assign ${requested} address${requested === 1 ? '' : 'es'} (${reason})`,
    );
  }
}

/** maxBlocksPerHost stops a new block and strict affinity forbids borrowing. */
export class BlockLimitError extends IpamError {}

/** The address is not inside any IP pool. */
export class AddressOutsidePoolsError extends IpamError {
  constructor(readonly address: string) {
    super(`address ${address} is outside every IP pool`);
  }
}

/** The address is inside a pool that is disabled. */
export class PoolDisabledError extends IpamError {}

/** The address is covered by an IPReservation. */
export class ReservedAddressError extends IpamError {
  constructor(
    readonly address: string,
    readonly reservation: string,
    readonly cidr: string,
  ) {
    super(`address ${address} is reserved by IPReservation "${reservation}" (${cidr})`);
  }
}

/** The address is already assigned. */
export class AddressInUseError extends IpamError {
  constructor(
    readonly address: string,
    readonly holder: string | null,
  ) {
    super(
      `address ${address} is already assigned` +
        (holder === null ? '' : ` (to handle "${holder}")`),
    );
  }
}

/** Strict affinity is on and the address's block belongs to another node. */
export class AffinityConflictError extends IpamError {}

/** Too many concurrent writers: a CAS loop gave up. */
export class ContentionError extends IpamError {}

/** Stored data that cannot be decoded. */
export class CorruptDataError extends IpamError {}
