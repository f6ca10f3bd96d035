// SPDX-License-Identifier: MIT
//
// validate_parity.ts: the TypeScript validators (veranic --ts) against the C ones on the same
// messages, from generated/kitchen_sink (every construct of the schema language). For each
// case it builds the message with protobuf-es, fills the schema's plain fields, runs the
// TypeScript validator and prints one line: the message name, the message's bytes in hex and
// the verdict ("ok" or "<path>: <reason>"). validate_parity.c reads those lines, decodes the
// bytes with protobuf-c, runs the C validator and fails on any verdict that differs.
import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { fillRequired, type Failure } from "@verani/client";
import * as k from "../../generated/kitchen_sink/ts/kitchen_client.js";
import * as pb from "../../generated/kitchen_sink/ts/kitchen_pb.js";

type Case = [string, DescMessage, (m: any) => Failure | null, object];

const player = { name: "ann", level: 1 };
const labels = { optI: 1, optB: new Uint8Array([1]), optM: player, repS: ["x"],
                 colors: { red: pb.Color.RED }, name: "n" };
const scalars = { u64: 1n, s: "abc", by: new Uint8Array([1]) };

const cases: Case[] = [
  ["Scalars", pb.ScalarsSchema, k.validateScalars, scalars],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, i32: 11 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, i32: -11 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, i64: 1000000000001n }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, u32: 4000000001 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, u64: 0n }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s32: -6 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s64: 6n }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, f: 1.75 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, f: NaN }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, d: -0.5 }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s: "a" }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s: "abcdefghi" }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s: "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9" }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, s: "\u{1F600}".repeat(9) }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, by: new Uint8Array(0) }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, by: new Uint8Array(5) }],
  ["Scalars", pb.ScalarsSchema, k.validateScalars, { ...scalars, color: 7 }],
  ["Labels", pb.LabelsSchema, k.validateLabels, labels],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optI: undefined }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optI: -1 }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optS: "abcd" }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optB: new Uint8Array(0) }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optB: new Uint8Array(3) }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optE: 9 }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optM: undefined }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, optM: { name: "" } }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, repI: [1, 2, 3, 4] }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, repI: [1, 10] }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, repD: [1, 2.75] }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, repS: [] }],
  ["Labels", pb.LabelsSchema, k.validateLabels,
   { ...labels, players: [player, player, { name: "b", level: 100 }] }],
  ["Labels", pb.LabelsSchema, k.validateLabels,
   { ...labels, players: [player, player, player, player, player] }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, scores: { a: 1, b: 2, c: 3 } }],
  ["Labels", pb.LabelsSchema, k.validateLabels,
   { ...labels, byName: { a: player, b: { name: "x".repeat(33) } } }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, colors: {} }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, colors: { a: 1, b: 5 } }],
  ["Labels", pb.LabelsSchema, k.validateLabels,
   { ...labels, leader: { name: "l", team: { tag: "toolong", members: [] } } }],
  ["Labels", pb.LabelsSchema, k.validateLabels,
   { ...labels, leader: { name: "l", team: { tag: "t", members: [player, { name: "" }] } } }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, name: "" }],
  ["Labels", pb.LabelsSchema, k.validateLabels, { ...labels, palette: [1, 2, 8] }],
  ["Player", pb.PlayerSchema, k.validatePlayer, { name: "\u{1F600}".repeat(32), level: 99 }],
  ["Team", pb.TeamSchema, k.validateTeam, { tag: "abcd", members: [{ name: "m", level: 100 }] }],
];

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
for (const [name, schema, validate, init] of cases) {
  const m = create(schema, init as never);
  fillRequired(reflect(schema, m));
  const f = validate(m);
  console.log(`${name} ${hex(toBinary(schema, m)) || "-"} ${f ? `${f.path}: ${f.reason}` : "ok"}`);
}
