/** The roles a person or tool may hold (README "Security model: people and roles"). */
export const ROLES = ['admin', 'publisher', 'approver', 'operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
