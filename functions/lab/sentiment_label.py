from nltk.sentiment.vader import SentimentIntensityAnalyzer


def _label(score):
    if score >= 0.05:
        return "positive"
    if score <= -0.05:
        return "negative"
    return "neutral"


def sentiment_label(_arg1):
    """Labels each text positive, negative or neutral by NLTK's VADER score (the lexicon is
    shipped with the wheelhouse: hosts never download it).

    >>> sentiment_label(["I love this", "This is terrible", "It is a chair"])
    ['positive', 'negative', 'neutral']
    """
    analyzer = SentimentIntensityAnalyzer()
    return [_label(analyzer.polarity_scores(text)["compound"]) for text in _arg1]
