/** Header a Sluice node sends so its upstream can attribute traffic to it. */
export const NODE_HEADER = 'x-sluice-node';
