/// <reference path="./interfaces/switchboard-app-app-info.d.ts" />
/// <reference path="./interfaces/switchboard-app-attachments.d.ts" />
/// <reference path="./interfaces/switchboard-app-connections.d.ts" />
/// <reference path="./interfaces/switchboard-app-handler.d.ts" />
/// <reference path="./interfaces/switchboard-app-lifecycle.d.ts" />
/// <reference path="./interfaces/switchboard-app-log.d.ts" />
/// <reference path="./interfaces/switchboard-app-types.d.ts" />
declare module 'switchboard:app/stateful-app@0.1.1' {
  export type * as SwitchboardAppAppInfo011 from 'switchboard:app/app-info@0.1.1'; // import switchboard:app/app-info@0.1.1
  export type * as SwitchboardAppAttachments011 from 'switchboard:app/attachments@0.1.1'; // import switchboard:app/attachments@0.1.1
  export type * as SwitchboardAppConnections011 from 'switchboard:app/connections@0.1.1'; // import switchboard:app/connections@0.1.1
  export type * as SwitchboardAppLog011 from 'switchboard:app/log@0.1.1'; // import switchboard:app/log@0.1.1
  export type * as SwitchboardAppTypes011 from 'switchboard:app/types@0.1.1'; // import switchboard:app/types@0.1.1
  export * as lifecycle from 'switchboard:app/lifecycle@0.1.1'; // export switchboard:app/lifecycle@0.1.1
  export * as handler from 'switchboard:app/handler@0.1.1'; // export switchboard:app/handler@0.1.1
}
