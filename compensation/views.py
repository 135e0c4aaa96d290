from django.http import HttpResponse


def supervisor_home(request):  # replaced by the supervisor view
    return HttpResponse("supervisor")
