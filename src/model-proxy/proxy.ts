// PLACEHOLDER types until the proxy lands (replaced wholesale at merge).
export interface TokenUsage { inputTokens: number; outputTokens: number; cacheCreationTokens: number; cacheReadTokens: number }
export interface Usage extends TokenUsage { costUsd: number; requests: number }
export interface Refusal { message: string }
export interface LeaseOptions { taskId: string; admit(): Refusal | null; onUsage?(delta: Usage, total: Usage): void }
export interface Lease { readonly token: string; usage(): Usage; revoke(): void }
export declare class ModelProxy { readonly url: string; listen(): Promise<void>; lease(options: LeaseOptions): Lease; close(): Promise<void> }
