"""Push: rules that decide which events notify whom, the counts and list they feed,
and pushers that carry notifications to push gateways."""
