"""What the model APIs share: chat completions, responses and messages are thin adapters over it.

plan.py     a conversation -> the upstream request (prompt, tool protocol, payload): the seam
            where conversation continuity plugs in
prompt.py   the history -> one upstream message plus custom instructions
tools.py    the tool protocol block and the incremental tool-call extractor
answer.py   grok.com's events -> an API-neutral sink (text, reasoning, tool calls), with stop
            sequences, the max-tokens budget, citations, images and in-band errors
text.py     Grok's internal tags, stop sequences, JSON extraction
usage.py    offline token estimates
upstream.py the browser-like `conversations/new` body

Nothing here imports Flask or an API adapter: adapters parse their request into the engine's
history form and render the sink calls in their own wire format.
"""
