"""Lexical patterns behind the 19 USI features (and reused by the rule-based codebook).

The word lists follow the authors' released feature extractor (sunnweiwei/OdysSim,
``agents/tau_usi/utils.py``, which the tau-USI README says reproduces the paper's table
bit-for-bit), so a feature here means what it means in the paper. They are kept as plain
phrase lists (regex fragments, matched on lower-cased text with word boundaries) so that a
reviewer can read and diff them against the paper without reading regex plumbing.

Patterns marked "project" below are simgap's own and are used only by the behavioural codebook
(never by the USI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def any_of(phrases: Iterable[str], *, anchored: bool = False) -> re.Pattern[str]:
    """One compiled alternation of regex fragments between word boundaries.

    `anchored=True` matches the whole (stripped) text: the phrase, then optional trailing
    punctuation, then the end, as the paper's "acknowledgement only" feature needs.
    """
    body = "|".join(phrases)
    if anchored:
        return re.compile(rf"^(?:{body})[\s!.\-,]*$")
    return re.compile(rf"\b(?:{body})\b")


# fmt: off
# -- D1 conversation style ------------------------------------------------------------------
POLITE = any_of(
    [
        "please", "thank you", "thanks", "sorry", "excuse me", "appreciate", "grateful",
        "kind of you", "wonderful", "courteous", "considerate", "i understand", "no worries",
        "my apologies", "pardon",
    ]
)
DASH = re.compile(r"[\u2014\u2013]")  # em/en dash: the paper's "formality" marker
ACK_ONLY = any_of(
    [
        "yes", "yeah", "yea", "yep", "yup", "ok", "okay", "okey", "sure", "right", "fine", "great",
        "perfect", "awesome", "cool", "agree", "agreed", "correct", "absolutely", "indeed",
        "alright", "got it", "go ahead", "sounds good", "that works", "proceed", "confirm",
        "do it", "no problem", "thank you", "thanks", "please", "mhm", "uh-huh", "aight",
    ],
    anchored=True,
)
# Agent-like phrasing in a *user* turn: the simulator has confused its role with the agent's.
ID_CONFUSE = any_of(
    [
        r"how can i (?:help|assist)", r"how may i (?:help|assist)",
        r"what can i (?:do|help|assist) (?:for|with)", r"do you (?:want|require|wish|prefer)",
        r"would you (?:like|prefer)",
        r"let me (?:check|look|verify|find|pull up|search|assist|help)",
        r"i(?:'?ll| will) (?:check|look into|verify|process|handle|assist|help)",
        r"i(?:'?m| am) (?:happy|glad|here) to (?:help|assist)", r"is there anything else i can",
        r"thank you for (?:calling|contacting|reaching|choosing|your patience)",
        r"for (?:security|verification) (?:purposes|reasons)", r"(?:may|could) i (?:verify)",
        r"allow me to", r"permit me to",
        r"your (?:order|account|reservation|booking|request|ticket|case|inquiry)",
        r"i (?:see|understand) (?:that|your)",
        r"according to (?:our|the) (?:records|system|policy)",
        r"(?:our|the) (?:policy|system|records) (?:shows?|indicates?)",
        r"i (?:can|could) (?:offer|suggest|recommend)",
        r"(?:have you|did you) (?:tried?|considered?)",
        r"i apologize for (?:the|any) (?:inconvenience|confusion|delay|trouble)",
    ]
)

# -- D2 information provision ---------------------------------------------------------------
# Identifier-like tokens: long alphanumerics, 5+ digit numbers, snake_case ids, payment ids,
# e-mail addresses. Counted with findall (several per turn).
ID_TOKEN = re.compile(
    r"(\b[a-z0-9]{6,}\b|#?\w*\d{5,}\w*|\w+_\w+_\d{3,}|gift_card_\w+|credit_card_\w+"
    r"|paypal_\w+|\w+@\w+\.\w+)"
)

# -- D3 clarification -----------------------------------------------------------------------
UNCERTAINTY = any_of(
    [
        "i think", "not sure", r"i don'?t remember", r"i don'?t recall", "i believe", "probably",
        "maybe", "i forgot", r"don'?t know", "i guess", r"i'?m not sure", "if i recall",
        r"i don'?t have", r"can'?t recall", r"can'?t find", r"i'?m unsure", "i might", "perhaps",
        "apparently", "sort of", "kind of", "somewhat", "partly", "possibly", "vaguely", "roughly",
        "hesitant", "doubtful", "confused", "uncertain", "dunno",
    ]
)
CERTAINTY = any_of(
    [
        "definitely", "absolutely", "certainly", "exactly", "precisely", "clearly", "always",
        "never", "completely", "entirely", "fully", "obvious", "obviously", "undoubtedly",
        "without a doubt", "for sure", "of course", "guaranteed", "no doubt",
    ]
)
PUSHBACK_Q = any_of(
    [
        "are you sure", r"that'?s (?:not right|wrong|incorrect|not what)",
        r"i already (?:told|said|gave|provided|mentioned)", r"you already (?:asked|have)",
        "try again", "check again", r"that can'?t be (?:right|correct)",
        r"that'?s (?:crazy|nonsense|ridiculous|absurd)", r"this is (?:not fair|nonsense)",
        r"why (?:can'?t|won'?t|didn'?t|isn'?t|aren'?t|would)",
        r"doesn'?t (?:seem|sound|look|make sense)", r"not what i (?:asked|said|meant|wanted)",
        r"do(?:n'?t| not) ask me .* again", "i would never",
    ]
)
CLARIFY_Q = any_of(
    [
        "what do you mean", "what does that mean", "what did you mean",
        r"could you (?:clarify|elaborate|specify)", r"can you (?:explain|clarify|elaborate)",
        r"i don'?t understand", "i dont understand", r"what'?s the difference",
        "whats the difference", "what exactly", "what specifically",
        r"which (?:one|reservation|order|flight|option|plan|account|item|product)"
        r" (?:is|was|do|should|did|would)",
        r"i'?m not sure which", "im not sure which", "which is which",
        r"you (?:said|mentioned|told me|wrote|indicated) .{0,30}\?", "that mean",
        r"what does that (?:involve|include|entail|look like)",
        r"(?:sorry|wait),? (?:what|which|how|i don'?t)",
        r"can you (?:be more specific|give me more detail|break that down|walk me through)",
        r"i'?m (?:confused|lost)", r"im (?:confused|lost)",
        r"(?:how|what) (?:exactly|specifically) (?:does|do|is|are|would|will|should)",
        r"could you (?:repeat|say) that", r"can you (?:repeat|say) that",
        r"what (?:is|are) the (?:options|choices|alternatives|details)",
        r"i need (?:more|some) (?:info|information|details|clarification)",
        r"(?:so|wait),? (?:you'?re saying|does that mean|is that)", r"meaning\??", r"how so\??",
        r"in what (?:way|sense)\??",
    ]
)
INFO_Q = any_of(
    [
        r"what is (?:the|my)", r"what'?s (?:the|my)", "how much", "how many",
        r"when (?:will|does|is|can|did)", r"where (?:is|are|was|can)",
        r"how (?:do|can|would|should) i", r"what are (?:the|my)",
        r"can you (?:check|tell|find|look|see|show|help|list)", r"do you (?:have|know|see)",
        r"is (?:there|it|that) (?:a |any )?", "what options", "how long",
        r"what.s the (?:status|price|cost|total|balance)",
    ]
)

# -- D4 error reaction ----------------------------------------------------------------------
EMOTION = any_of(
    [
        "frustrated", "upset", "angry", "confused", "worried", "annoyed", "furious", "ridiculous",
        "terrible", "horrible", "awful", "ugh", "stressed", "anxious", "nervous", "uncomfortable",
        "panic", "disappointed", "disappointing", "irritated", "irritating", "aggravated",
        "outraged", "outrageous", "exasperated", "bothered", "disgusted", "miserable",
        "devastated", "heartbroken", "desperate",
    ]
)
ACCUSATION = any_of(
    [
        "blame", "fault", "ridiculous", "wrong", "useless", "incompetent", "failure", "misleading",
        "irresponsible", "unacceptable", "disgrace", "insult", "scam", "shame", "stupid",
        "trouble", "disappointing", "ruined",
    ]
)
PIVOT = any_of(
    [
        r"(?:wait|actually) (?:can|let|could|would)", r"i(?:'?d| would) (?:like|prefer|rather)",
        r"(?:can you|can we|could you) just", "instead", "rather than", "how about", "what about",
        "what if", "on second thought", r"is there (?:a |any |another )?way to",
        r"(?:let'?s|can we|lets) (?:try|do|go with|switch|change)",
        r"maybe (?:we|i|you) (?:should|could|can)",
        r"(?:change|switch|try) (?:it |that )?(?:to|something|a different)",
    ]
)

# -- session hygiene ------------------------------------------------------------------------
# Markup some models leak into their messages (thinking blocks, raw function calls); removed
# before counting words, as the paper's extractor does.
AGENT_MARKUP = re.compile(
    r"<\|think\|>.*?<\|/think\|>|<function=.*?(?:</function>|$)|<\|tool\|>.*?<\|/tool\|>",
    re.DOTALL,
)
# Control messages that are not words said to the agent: τ² control tokens, and the study
# interface's commands in the paper's human data.
CONTROL_TOKENS = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")
HUMAN_META_PREFIXES = ("\\tau ", "\\reward")
HUMAN_META_MARKERS = ("<|canvas|>", "<|highlight|>", "<|survey|>")

# -- project: behavioural codebook only (never part of the USI) -----------------------------
AGENT_TROUBLE = any_of(
    [
        "sorry", r"apolog\w*", "unfortunately", r"unable to", r"not able to",
        r"can(?:'?t|not| not)", r"(?:couldn'?t|could not|wasn'?t able to|was not able to)",
        r"not (?:possible|allowed|permitted|eligible)", r"isn'?t (?:possible|eligible|allowed)",
        r"ineligible", r"against (?:our |the )?polic\w*", r"(?:doesn'?t|does not) allow",
        r"no record", r"(?:did|does|do) not (?:find|match|exist)", r"error", r"failed", r"invalid",
        r"i'?m afraid",
    ]
)
ESCALATE = any_of(
    [
        r"(?:a |an )?(?:human|real person|real agent|live agent|supervisor|manager)",
        r"representative", r"transfer me", r"speak (?:to|with) (?:someone|somebody)", r"escalate",
    ]
)
GIVE_UP = any_of(
    [
        "forget it", r"never ?mind", "i give up", r"don'?t bother", "not worth it",
        r"i'?ll (?:go|try) elsewhere", r"i'?m done", "whatever", "just cancel everything", "bye",
        "goodbye",
    ]
)
REPEAT_MARKERS = any_of(
    [r"again", r"like i said", r"as i said", r"i said", r"as i mentioned", r"i repeat"]
)
CONFIRM_Q = any_of(
    [
        r"is that (?:right|correct)", r"(?:right|correct)\?", r"just to (?:confirm|be clear)",
        r"can you confirm", r"so (?:that means|you'?re saying|it'?s)", r"does that mean",
        r"did (?:it|that) go through", r"are we (?:all )?set", r"is it done",
        r"will (?:i|that) (?:get|be)",
    ]
)
WITHHOLD = any_of(
    [
        r"i don'?t (?:have|know|remember|recall)", r"(?:can'?t|cannot) (?:find|remember|recall)",
        r"not sure", r"rather not", r"prefer not", r"i(?:'?d| would) rather not",
        r"don'?t want to (?:share|give)", "no idea", "dunno", "i forgot",
    ]
)
VAGUE = any_of(
    [
        "something", "some kind of", "whatever", "the usual", "that thing", "stuff", "a while ago",
        "recently", "sometime", "somewhere", "or so", "ish", "kinda", "sort of", "kind of",
        "i think", "maybe", "probably", "not sure",
    ]
)
SELF_CORRECT = any_of(
    [
        r"sorry,? i meant", r"i mean", "correction", r"wait,? no", "scratch that", "i misspoke",
        r"my (?:bad|mistake)", r"not \w+,? but", r"i meant",
        r"actually,? (?:it'?s|it is|it was|that'?s|my)",
    ]
)
POSITIVE = any_of(
    [
        "great", "perfect", "awesome", "wonderful", "excellent", "thanks", "thank you",
        "appreciate", "amazing", "fantastic", "lovely", "nice", "glad", "happy", "helpful",
    ]
)
NEGATIVE = any_of(
    [
        "bad", "terrible", "horrible", "awful", "annoying", "annoyed", "frustrated", "frustrating",
        "angry", "upset", "hate", "worst", "useless", "ridiculous", "unacceptable", "disappointed",
        "disappointing", "wrong", "ugh", "seriously",
    ]
)
ANGER = any_of(
    [
        "useless", "incompetent", "stupid", "ridiculous", "unacceptable", "scam", "disgrace",
        "insult", "furious", "outrageous", "outraged", r"wtf", r"what the hell", "pathetic",
        r"(?:are|r) you (?:kidding|serious)", "seriously",
    ]
)
FRUSTRATION = any_of(
    [
        "frustrated", "frustrating", "annoyed", "annoying", "ugh", "come on",
        r"still (?:not|no|nothing|waiting)", r"already (?:told|said|gave)", "this is taking",
        "how many times", "upset", "disappointed", "tired of", "waste of time",
    ]
)
# Informal spellings and chat shorthand (typos/informality rate). Project list.
INFORMAL = any_of(
    [
        "u", "ur", "r", "pls", "plz", "thx", "ty", "gonna", "wanna", "gotta", "lol", "idk", "imo",
        "btw", "k", "kk", "yeah", "yep", "yup", "nope", "nah", "ok", "okay", "hey", "dont", "cant",
        "wont", "im", "ive", "didnt", "doesnt", "isnt", "thats", "whats", "hows", "cuz", "coz",
        "cause", "tho", "ya", "yea", "y'all", "dunno", "kinda", "sorta", "aight", "hmm", "umm",
        "uh", "teh", "recieve", "adress", "untill", "definately", "seperate", "wich",
    ]
)
FORMAL = any_of(
    [
        "would you", "could you please", "i would like", "i would appreciate", "kindly", "dear",
        "regards", "sincerely", "i wish to", "i am writing", "furthermore", "however", "therefore",
        "additionally", "may i", "would it be possible",
    ]
)
CONTRACTION = re.compile(r"\b\w+'(?:s|t|re|ve|ll|d|m)\b")
WORD = re.compile(r"[a-z0-9']+")
# fmt: on
