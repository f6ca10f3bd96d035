// SPDX-License-Identifier: MIT
//
// @verani/client: the Verani-C client for browsers and Node 20+ (runtime/ts/README.md).
// The generated room code (veranic --ts) imports what it needs from here.
export {
  VeraniClient, RequestError, FrameTooLargeError, SendBufferFullError, fillRequired, movedTarget,
  type State, type EventDef, type RoomSchema, type WebSocketLike, type WebSocketConstructor,
  type VisibilitySource, type ClientOptions, type ReplyStatus, type ClientErrorKind,
  type EventInfo, type ClientInfo,
} from "./client.js";
export { backoffDelay, backoffFromOptions, type Backoff, type BackoffOptions } from "./backoff.js";
export { FOLDED_HELLO_MAX, base64url, hasHelloParam, withFoldedHello } from "./fold.js";
export { OfflineQueue, type Frame } from "./queue.js";
export { ResumeState, type HelloResume, type WelcomeFacts, type WelcomeOutcome } from "./resume.js";
export { ValidationError, checkString, fail, nest, validationError, type Failure } from "./validate.js";
// the wire envelope (protoc-gen-es, from envelope.proto), for tools and tests
export { EnvelopeSchema, ErrorCode, Kind, type Envelope } from "./gen/envelope_pb.js";
export type { RoomOptions } from "./client.js";
