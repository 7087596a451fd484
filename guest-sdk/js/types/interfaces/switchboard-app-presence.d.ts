/// <reference path="./switchboard-app-topics.d.ts" />
declare module 'switchboard:app/presence@0.1.3' {
  export function onJoin(topic: string, member: Member): void;
  export function onLeave(topic: string, member: Member): void;
  export type Member = import('switchboard:app/topics@0.1.3').Member;
}
