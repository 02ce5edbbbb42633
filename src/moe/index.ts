/** The expert-parallel MoE layer and its exchange plan. */
export { MoELayer, type Parameter } from './layer.js';
export { type MoELayerOptions, type ResolvedMoEOptions } from './options.js';
export { planExchange, type ExchangePlan, type RowBlock } from './exchange.js';
