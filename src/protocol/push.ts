/**
 * Why an upstream refuses a status or report push: the sender does not pull from it
 * (`not_downstream`), speaks for another node (`wrong_node`), or names sites outside its own
 * subtree (`outside_subtree`). The label values of sluice_pushes_refused_total.
 */
export const PUSH_REFUSALS = ['not_downstream', 'wrong_node', 'outside_subtree'] as const;
export type PushRefusal = (typeof PUSH_REFUSALS)[number];
