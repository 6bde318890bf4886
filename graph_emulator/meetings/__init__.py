"""The meetings service: Teams online meetings per organiser, their join links and attendance reports."""
