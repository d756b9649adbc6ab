/// The text of `schemas/lifecycle.default.json`, built in so the default needs no file at run time.
enum LifecycleDefaultText {
    static let json = #"""
{
  "$schema": "./lifecycle.schema.json",
  "description": "The default customer lifecycle (semantics §4). First match wins: the inactivity stages come first so that they override every journey stage, advocate before the order stages so that a promoter customer is an advocate.",
  "order_event": "Order Completed",
  "revenue_property": "properties.revenue",
  "nps": { "event": "NPS Responded", "property": "properties.score" },
  "stages": [
    {
      "name": "churned",
      "kind": "churned",
      "description": "No activity for 90 days or more.",
      "rule": { "days_since_last_activity": { ">=": 90 } }
    },
    {
      "name": "at risk",
      "kind": "at_risk",
      "description": "Latest NPS answer a detractor (0-6), or no activity for 30 days or more.",
      "rule": { "any": [ { "nps_category": "detractor" }, { "days_since_last_activity": { ">=": 30 } } ] }
    },
    {
      "name": "advocate",
      "rank": 4,
      "description": "A customer (one order or more) whose latest NPS answer is a promoter (9-10).",
      "rule": { "all": [ { "orders": { ">=": 1 } }, { "nps_category": "promoter" } ] }
    },
    {
      "name": "repeat customer",
      "rank": 3,
      "description": "Two orders or more.",
      "rule": { "orders": { ">=": 2 } }
    },
    {
      "name": "customer",
      "rank": 2,
      "description": "One order.",
      "rule": { "orders": { "=": 1 } }
    },
    {
      "name": "lead",
      "rank": 1,
      "description": "Identified (some event carried a userId), no order yet.",
      "rule": { "all": [ { "identified": true }, { "orders": { "=": 0 } } ] }
    },
    {
      "name": "visitor",
      "rank": 0,
      "description": "Everyone else: anonymous, no order.",
      "rule": { "all": [] }
    }
  ]
}
"""#
}
