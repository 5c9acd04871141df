// The session layer's public surface.
export { Timer, systemClock, type Clock, type TimerHandle } from './clock.js';
export {
  PeerFsm,
  type DownEvent,
  type FsmConfig,
  type FsmCounters,
  type FsmListener,
  type FsmState,
  type SessionParams,
} from './session.js';
export {
  Md5UnsupportedError,
  inSubnet,
  isDirectlyConnected,
  plainAddress,
  tcpTransport,
  type Connection,
  type ConnectOptions,
  type Listener,
  type ListenOptions,
  type Transport,
} from './transport.js';
