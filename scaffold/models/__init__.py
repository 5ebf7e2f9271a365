"""Models trained on the chapter's datasets: the Classifier system and its MLP component."""

from scaffold.models.classifier import Classifier
from scaffold.models.mlp import MLP

__all__ = ["MLP", "Classifier"]
